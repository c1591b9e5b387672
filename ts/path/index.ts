/** `ocp.path`: path utilities; `ocp.path.step` is the step module. */
export * as step from './step.js';
