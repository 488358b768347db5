/**
 * Bounds a wait on code we do not control (a user's dialer, an auth hook) by an AbortSignal:
 * such code may ignore the signal, and an `await` on it would then hang its caller forever.
 */

/**
 * Settles like `promise`, or rejects with `reason()` as soon as `signal` aborts, whichever
 * comes first. A value that arrives after the abort is handed to `discard` (e.g. to destroy
 * a stream nobody will use); a late rejection is ignored.
 */
export function abortable<T>(
  promise: T | PromiseLike<T>,
  signal: AbortSignal,
  reason: () => unknown,
  discard?: (late: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reason());
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    Promise.resolve(promise).then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) discard?.(value);
        else resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
