/**
 * Runs work on each item, at most limit at once (blobs of a pull or push). The first failure
 * stops the rest: stop is aborted (the registry's requests under its signal end as canceled), no
 * further item starts, and once the running ones have settled that first error is thrown, not
 * the cancellations it caused. So a failed transfer leaves no request still running behind it.
 */
export async function eachInParallel<T>(
  items: readonly T[],
  limit: number,
  stop: AbortController,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        if (!failure) {
          failure = { error };
          stop.abort(error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/** A signal that aborts when the caller's does or when stop is aborted. */
export const linkedSignal = (stop: AbortController, outer: AbortSignal | undefined): AbortSignal =>
  outer ? AbortSignal.any([outer, stop.signal]) : stop.signal;
