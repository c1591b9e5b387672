/** `ocp.checkpointManagers`: save-decision and preservation policies, and the manager's options. */
export type {
  DecisionContext,
  PolicyCheckpointInfo,
  PreservationContext,
  PreservationPolicy,
  SaveDecisionPolicy,
} from './policyTypes.js';
export {
  AnySavePolicy,
  ContinuousCheckpointingPolicy,
  type ContinuousCheckpointingPolicyOptions,
  FixedIntervalPolicy,
  InitialSavePolicy,
  isContinuousCheckpointingEnabled,
  PreemptionCheckpointingPolicy,
  ShouldSaveFnPolicy,
  SpecificStepsPolicy,
} from './saveDecisionPolicy.js';
export {
  AnyPreservationPolicy,
  BestN,
  type BestNOptions,
  CustomSteps,
  EveryNSeconds,
  EveryNSteps,
  EveryNStepsClosest,
  type EveryNStepsOptions,
  LatestDuration,
  LatestN,
  PreserveAll,
} from './preservationPolicy.js';
export type { MetricFn } from './metricOrder.js';
export { stepsToDelete } from './retention.js';
export { shouldSaveStep, type SaveGateOptions } from './saveGate.js';
export { bestStep, type BestStepOptions } from './bestStep.js';
export {
  type CheckpointManagerOptions,
  type ResolvedCheckpointManagerOptions,
  type ResolveManagerOptionsHooks,
  resolveManagerOptions,
  type ShouldSaveFn,
  type StepNameFormatLike,
} from './managerOptions.js';
export type {
  AsyncOptions,
  AtomicityMode,
  AtomicityOptions,
  FileOptions,
  MultiprocessingOptions,
  ResolvedAsyncOptions,
  ResolvedAtomicityOptions,
  ResolvedFileOptions,
  ResolvedMultiprocessingOptions,
} from './optionTypes.js';
