// Task for the dispatch and memory scenarios: the worker-thread counterpart of kernels.noop.
// piscina and tinypool run this module's default export, workerpool runs it through
// workerpool-worker.mjs, spindle's worker backend runs it as task(path), and the main-thread
// floor calls it directly: every contender runs this same function.
export default function identity(x) {
  return x;
}
