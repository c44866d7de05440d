// What crosses the engine boundary about the compute path: which tfjs backend and which training path were asked
// for and which run. Plain data, and the two ways people read a training path (a line, and a short label).

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

/** Which implementation trains: native is the N-API addon only; wasm and webgpu are the other compiled trainers. */
export type TrainingPath = Exclude<TrainerChoice, 'auto'>;

/** The training path a run took, as data: the status bar, the CLI and the loss chart each say it their way. */
export interface TrainingPathInfo {
  path: TrainingPath;
  /**
   * What it runs on: the addon's instruction set (avx512, avx2, neon, generic), the wasm build's (fma, simd), the tfjs
   * backend (wasm, cpu, tensorflow), or for webgpu the adapter's kind (gpu, software).
   */
  isa: string;
  /** Threads of the path's own pool (native, wasm); 0 where the path has none (tfjs, webgpu). */
  threads: number;
  /** webgpu: the adapter, "nvidia NVIDIA H200". */
  adapter?: string;
  /** auto only: why it did not take a faster path, in one line ("native trainer unavailable: ..."). */
  fallback?: string;
}

/** Checks a training path that arrived untyped (a webview's event, a file's history). */
export function isTrainingPathInfo(x: unknown): x is TrainingPathInfo {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as Record<string, unknown>;
  return (TRAINER_CHOICES as readonly unknown[]).includes(t.path) && t.path !== 'auto' && typeof t.isa === 'string' &&
    typeof t.threads === 'number' && (t.adapter === undefined || typeof t.adapter === 'string') &&
    (t.fallback === undefined || typeof t.fallback === 'string');
}

const ISA_LABELS: Record<string, string> = { avx512: 'AVX-512', avx2: 'AVX2', neon: 'NEON', generic: 'generic', simd: 'SIMD', fma: 'relaxed SIMD' };

/** One line for logs and the CLI: "native-avx512, 2 threads", "wasm-fma, 2 threads", "tfjs-wasm", "webgpu: <adapter> (GPU)". */
export function describeTrainingPath(t: TrainingPathInfo): string {
  const parts = [t.path === 'webgpu' ? `webgpu${t.adapter ? `: ${t.adapter} (${t.isa === 'software' ? 'software' : 'GPU'})` : ''}` : `${t.path}-${t.isa}`];
  if (t.threads > 0) parts.push(`${t.threads} thread${t.threads === 1 ? '' : 's'}`);
  if (t.fallback) parts.push(t.fallback);
  return parts.join(', ');
}

/** A few words for the status bar: "native CPU (AVX2)", "wasm CPU (relaxed SIMD)", "tfjs (wasm)", "GPU (webgpu)". */
export function trainingPathLabel(t: TrainingPathInfo): string {
  switch (t.path) {
    case 'native': case 'wasm': return `${t.path} CPU (${ISA_LABELS[t.isa] ?? t.isa})`;
    case 'webgpu': return t.isa === 'software' ? 'webgpu (software)' : 'GPU (webgpu)';
    case 'tfjs': return `tfjs (${t.isa})`;
  }
}
