import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './backend';
import { runExperiment, type ExperimentEvent } from './engine';
import { loadRequestData, type ExperimentRequest } from './request';

/**
 * The experiment process: a child of the CLI or the language server that
 * trains, so that running out of memory or crashing in native code never
 * takes its parent down. It receives one `run` message and any number of
 * `cancel`s, sends every ExperimentEvent, then `finished`, and exits.
 */

export type ToWorker = { type: 'run'; request: ExperimentRequest } | { type: 'cancel' };
export type FromWorker = ExperimentEvent | { type: 'finished' };

const cancel = { requested: false };

function send(m: FromWorker): Promise<void> {
  return new Promise((resolve) => process.send!(m, () => resolve()));
}

async function run(request: ExperimentRequest): Promise<void> {
  try {
    // PROD: no tfjs debug checks, and no advice about its native backend on the console.
    tf.env().set('PROD', true);
    const backend = await selectBackend(request.backend);
    const data = loadRequestData(request);
    const pending: Promise<void>[] = [];
    await runExperiment({ ...request, data, backend: backend.name, cancel }, (e) => void pending.push(send(e)));
    await Promise.all(pending);
  } catch (e) {
    await send({ type: 'error', strategy: null, message: (e as Error).message });
  }
  await send({ type: 'finished' });
  process.disconnect();
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'cancel') cancel.requested = true;
  else if (m.type === 'run') void run(m.request);
});
// The parent went away: nobody reads the results.
process.on('disconnect', () => process.exit(0));
