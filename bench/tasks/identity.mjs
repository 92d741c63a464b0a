// piscina task for the dispatch scenarios: the worker-thread counterpart of kernels.noop.
export default function identity(x) {
  return x;
}
