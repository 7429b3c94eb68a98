// Names of the values the main step saves for the post step (GITHUB_STATE).
export const STATE = { workDir: 'pcb-work-dir', containers: 'pcb-containers' } as const;
