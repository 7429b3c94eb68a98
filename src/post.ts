// Post step: src/cleanup.ts removes what the main step left behind. A problem there is a warning,
// never a failed job.
import * as core from '@actions/core';
import { cleanUp } from './cleanup.js';

try {
  await cleanUp();
} catch (e) {
  core.warning(`cleanup: ${(e as Error).message}`);
}
