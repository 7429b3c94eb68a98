// Names of the values the main step saves for the post step (GITHUB_STATE).
export const STATE = {
  workDir: 'pcb-work-dir',       // the run's temp dir
  containers: 'pcb-containers',  // smoke containers not removed yet (JSON list)
  runMark: 'pcb-run-mark',       // every command of the run has POINTCEPT_CONDA_BUILD_RUN=<this> in its environment
  pid: 'pcb-main-pid',           // the main step's pid: names its leftovers in a local cache dir
  cacheDir: 'pcb-cache-dir',     // the local env cache dir, when cache-backend is local
} as const;
