// The services of .ci/setup that the end-to-end tests run against, named by the variables it
// writes to .ci/.env; the tests skip unless PCB_E2E=1 (set by .ci/run once they are up).
export const E2E = process.env.PCB_E2E === '1';
export const REGISTRY = process.env.PCB_REGISTRY ?? '127.0.0.1:5000';
export const BUILDER = process.env.PCB_BUILDER ?? 'pcb-remote';
export const BASE = process.env.PCB_BASE_IMAGE ?? `${REGISTRY}/pcb-base:busybox`;
