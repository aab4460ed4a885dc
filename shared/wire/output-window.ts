// Flow control of streamed output: an agent keeps at most a window of output bytes that the
// controller has not acknowledged (`output.ack`), and pauses the producer meanwhile.

/** Smallest window a request may ask for. */
export const MIN_OUTPUT_WINDOW = 64 * 1024;
/** Largest window a request may ask for. */
export const MAX_OUTPUT_WINDOW = 64 * 1024 * 1024;
