// What crosses the engine boundary about the compute path: which tfjs backend and which training path were asked
// for and which run. Plain data only.

export const BACKEND_NAMES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

export type BackendRequest = (typeof BACKEND_NAMES)[number];

export interface BackendReport {
  name: 'tensorflow' | 'wasm' | 'cpu';
  requested: BackendRequest;
  detail: string; // e.g. "@tensorflow/tfjs-node-gpu (CUDA)" or "wasm SIMD"
  tried: string[]; // what auto tried before, with the reason each failed
  kernels: KernelReport | null; // native matmul kernels under wasm/cpu; null on tensorflow
}

export interface KernelReport {
  native: boolean;
  isa: string;
  threads: number;
  kernels: string[];
}

export const TRAINER_CHOICES = ['auto', 'native', 'wasm', 'tfjs', 'webgpu'] as const;

export type TrainerChoice = (typeof TRAINER_CHOICES)[number];

/** Which implementation trains. */
export type TrainingPath = Exclude<TrainerChoice, 'auto'>;
