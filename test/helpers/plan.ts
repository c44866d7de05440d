// Compute plans for tests: the tfjs backend (and with it the native kernels) and the training path a test asks for,
// made as an engine makes its plan when it starts (activating the backend again costs nothing).
import { ComputePlan } from '../../engine/compute/plan';
import type { BackendRequest, TrainerChoice } from '../../engine/protocol';

export function testPlan(trainer: TrainerChoice = 'auto', backend: BackendRequest = 'wasm'): Promise<ComputePlan> {
  return ComputePlan.create({ backend, trainer });
}
