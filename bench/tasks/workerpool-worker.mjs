// workerpool's worker script: workerpool addresses tasks as methods of one script, so this registers
// the harness's task modules under their file names (bench/lib/peers.mjs calls exec(name, [arg])).
import workerpool from 'workerpool';
import identity from './identity.mjs';
import mixed from './mixed.mjs';
import primes from './primes.mjs';

workerpool.worker({ identity, primes, mixed });
