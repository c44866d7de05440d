// One WebGPU device and what every model on it shares: the compiled kernels, buffer creation with the device's
// limits checked first, one-shot dispatch lists ("plans") with their uniform blocks, and readback with a deadline.
import { OUT_OF_MEMORY_CODE } from '../addon';
import { BufferUsage, MapMode, type GpuBindGroup, type GpuBindGroupLayout, type GpuBuffer, type GpuCommandEncoder, type GpuComputePassEncoder,
  type GpuComputePipeline, type GpuDevice } from './gpuTypes';
import { jobBytes, jobsOf, KERNELS, kernelSource, MAX_GROUPS, uniformBytes, type KernelName, type KernelSpec } from './kernels';

/** A readback that takes longer than this is a hung device, not a slow one (GPTLAB_WEBGPU_TIMEOUT_MS overrides). */
const DEFAULT_DEADLINE_MS = 10 * 60_000;

export function deadlineMs(): number {
  const v = Number(process.env.GPTLAB_WEBGPU_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_DEADLINE_MS;
}

/** An Error whose code says "more memory than the device has", which the trainer turns into a one-line InputError. */
export function outOfMemory(message: string): Error {
  const e = new Error(message);
  (e as { code?: string }).code = OUT_OF_MEMORY_CODE;
  return e;
}

function megabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.ceil(bytes / 1e6)} MB`;
}

/** A buffer bound to one binding of a kernel; `null` binds a placeholder (a bias or mask the config lacks). */
export type Binding = GpuBuffer | null;

/** Uniform values by field name: one record, or one per job for a kernel with jobs (absent jobs are all zero). */
export type Uniforms = Record<string, number> | Record<string, number>[];

/** One dispatch of a plan: a kernel, its uniform values, its buffers and its grid. */
export interface Dispatch {
  kernel: KernelName;
  uniforms: Uniforms;
  buffers: Binding[];
  grid: [number, number?, number?];
  /** Names a dispatch whose uniforms change between runs of the plan (Plan.update). */
  name?: string;
}

/** A command recorded outside a compute pass (zeroing a range of a buffer). */
export interface Clear {
  clear: GpuBuffer;
  offset: number; // bytes
  size: number; // bytes
}

/**
 * A fixed list of dispatches with their bind groups and uniform blocks built once, encoded into a command buffer
 * each time it runs: a training step is one such plan, its uniforms unchanged from step to step (the per-step values,
 * dropout seeds and AdamW's settings, live in buffers the plan reads).
 */
export class Plan {
  constructor(private readonly device: GpuDevice,
    private readonly steps: ({ pipeline: GpuComputePipeline; group: GpuBindGroup; grid: [number, number, number] } | Clear)[],
    private readonly uniformBuffer: GpuBuffer | null, readonly dispatches: number,
    private readonly named: Map<string, { dispatch: Dispatch; offset: number }>) {}

  /** Rewrites some uniforms of a named single-job dispatch before the next run (AdamW's learning rate, say). */
  update(name: string, uniforms: Record<string, number>): void {
    const n = this.named.get(name);
    if (!n || Array.isArray(n.dispatch.uniforms)) throw new Error(`webgpu: the plan has no single-job dispatch named ${name}`);
    Object.assign(n.dispatch.uniforms, uniforms);
    this.device.queue.writeBuffer(this.uniformBuffer!, n.offset, uniformBlock(n.dispatch));
  }

  encode(ctx: GpuContext, label: string): GpuCommandEncoder {
    const encoder = ctx.device.createCommandEncoder({ label });
    let pass: GpuComputePassEncoder | null = null;
    for (const s of this.steps) {
      if ('clear' in s) {
        pass?.end();
        pass = null;
        encoder.clearBuffer(s.clear, s.offset, s.size);
        continue;
      }
      pass ??= encoder.beginComputePass({ label });
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.group);
      pass.dispatchWorkgroups(...s.grid);
    }
    pass?.end();
    return encoder;
  }

  dispose(): void {
    this.uniformBuffer?.destroy();
  }
}

export class GpuContext {
  private readonly pipelines = new Map<string, { pipeline: GpuComputePipeline; layout: GpuBindGroupLayout }>();
  private readonly placeholders: GpuBuffer[] = [];
  private readonly uniformAlign: number;
  /** The first error the device reported outside an error scope, or its loss; every later call fails with it. */
  private failure: string | null = null;

  constructor(readonly device: GpuDevice) {
    this.uniformAlign = Math.max(16, device.limits.minUniformBufferOffsetAlignment ?? 256);
    device.addEventListener?.('uncapturederror', (event) => {
      this.failure ??= `the GPU reported: ${event.error.message.split('\n')[0]}`;
    });
    void device.lost.then((info) => {
      this.failure ??= `the GPU device was lost${info.message ? `: ${info.message.split('\n')[0]}` : ''}`;
    });
  }

  /** Throws the device's first reported error, if any: a lost device or a failed command is not retried. */
  checkHealthy(): void {
    if (this.failure) throw new Error(this.failure);
  }

  get maxBindingBytes(): number {
    return Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
  }

  /** A storage buffer of n 32-bit elements, zeroed; refused up front when the device cannot bind that much. */
  storage(n: number, label: string, extraUsage = 0): GpuBuffer {
    const bytes = Math.max(16, Math.ceil((4 * n) / 16) * 16);
    if (bytes > this.maxBindingBytes) {
      throw outOfMemory(`${label} needs ${megabytes(bytes)} in one GPU buffer but this adapter binds at most ` +
        `${megabytes(this.maxBindingBytes)}`);
    }
    return this.device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC | extraUsage, label });
  }

  /**
   * Runs make(), which creates buffers, and waits for the device's verdict: a device out of memory is reported
   * asynchronously, and becomes an error whose code says so (one line of bad input for the trainer).
   */
  async allocate<T>(what: string, make: () => T): Promise<T> {
    this.device.pushErrorScope('out-of-memory');
    let value: T;
    try {
      value = make();
    } catch (e) {
      await this.device.popErrorScope();
      throw e;
    }
    const error = await this.device.popErrorScope();
    if (error) throw outOfMemory(`${what} did not fit in the GPU's memory (${error.message.split('\n')[0]})`);
    return value;
  }

  /** A placeholder for binding i of a kernel (distinct per slot, so a write binding never aliases another). */
  private placeholder(i: number): GpuBuffer {
    while (this.placeholders.length <= i) this.placeholders.push(this.storage(4, `placeholder ${this.placeholders.length}`));
    return this.placeholders[i];
  }

  /** The compute pipeline of a kernel, compiled once. */
  pipeline(kernel: KernelName): { pipeline: GpuComputePipeline; layout: GpuBindGroupLayout } {
    let p = this.pipelines.get(kernel);
    if (!p) {
      const spec = KERNELS[kernel];
      const layout = this.device.createBindGroupLayout({
        label: kernel,
        entries: [
          { binding: 0, visibility: 4, buffer: { type: 'uniform' } },
          ...spec.bindings.map((b, i) => ({ binding: i + 1, visibility: 4, buffer: { type: b.kind === 'write' ? 'storage' as const : 'read-only-storage' as const } })),
        ],
      });
      const module = this.device.createShaderModule({ code: kernelSource(kernel), label: kernel });
      const pipeline = this.device.createComputePipeline({
        label: kernel,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      p = { pipeline, layout };
      this.pipelines.set(kernel, p);
    }
    return p;
  }

  /** Builds a plan: every dispatch's uniform block in one buffer, its bind group, and the clears between them. */
  plan(items: (Dispatch | Clear)[]): Plan {
    const dispatches = items.filter((d): d is Dispatch => 'kernel' in d);
    const offsets: number[] = [];
    let size = 0;
    for (const d of dispatches) {
      offsets.push(size);
      size += Math.ceil(uniformBytes(d.kernel) / this.uniformAlign) * this.uniformAlign;
    }
    const data = new Uint8Array(Math.max(size, 16));
    const named = new Map<string, { dispatch: Dispatch; offset: number }>();
    dispatches.forEach((d, i) => {
      data.set(uniformBlock(d), offsets[i]);
      if (d.name) named.set(d.name, { dispatch: { ...d, uniforms: Array.isArray(d.uniforms) ? d.uniforms : { ...d.uniforms } }, offset: offsets[i] });
    });
    const uniformBuffer = dispatches.length ? this.device.createBuffer({ size: data.byteLength, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'uniforms' }) : null;
    if (uniformBuffer) this.device.queue.writeBuffer(uniformBuffer, 0, data);
    let k = 0;
    const steps = items.map((item) => {
      if (!('kernel' in item)) return item;
      const i = k++;
      const spec = KERNELS[item.kernel];
      if (item.buffers.length !== spec.bindings.length) throw new Error(`webgpu: ${item.kernel} takes ${spec.bindings.length} buffers`);
      const { pipeline, layout } = this.pipeline(item.kernel);
      const group = this.device.createBindGroup({
        layout,
        label: item.kernel,
        entries: [
          { binding: 0, resource: { buffer: uniformBuffer!, offset: offsets[i], size: uniformBytes(item.kernel) } },
          ...item.buffers.map((b, j) => ({ binding: j + 1, resource: { buffer: b ?? this.placeholder(j) } })),
        ],
      });
      const [x, y = 1, z = 1] = item.grid;
      if (x > MAX_GROUPS || y > MAX_GROUPS || z > MAX_GROUPS) throw outOfMemory(`webgpu: ${item.kernel} needs a grid of ${x}x${y}x${z} workgroups`);
      return { pipeline, group, grid: [Math.max(1, x), y, z] as [number, number, number] };
    });
    return new Plan(this.device, steps, uniformBuffer, dispatches.length, named);
  }

  /**
   * Runs a plan and reads back byte ranges of buffers, in one submission: the readback round trip, with a deadline.
   * Errors the device raises while doing it (out of memory, validation) come back as exceptions.
   */
  async run(plan: Plan | null, reads: { buffer: GpuBuffer; offset?: number; bytes: number }[], label: string): Promise<ArrayBuffer[]> {
    this.checkHealthy();
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const encoder = plan ? plan.encode(this, label) : this.device.createCommandEncoder({ label });
    const total = reads.reduce((s, r) => s + Math.ceil(r.bytes / 4) * 4, 0);
    const staging = total > 0 ? this.device.createBuffer({ size: total, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'readback' }) : null;
    let at = 0;
    for (const r of reads) {
      const bytes = Math.ceil(r.bytes / 4) * 4;
      if (bytes > 0) encoder.copyBufferToBuffer(r.buffer, r.offset ?? 0, staging!, at, bytes);
      at += bytes;
    }
    this.device.queue.submit([encoder.finish()]);
    const validation = await this.device.popErrorScope();
    const memory = await this.device.popErrorScope();
    if (memory) {
      staging?.destroy();
      throw outOfMemory(`the GPU ran out of memory (${memory.message.split('\n')[0]})`);
    }
    if (validation) {
      staging?.destroy();
      throw new Error(`webgpu: ${label}: ${validation.message.split('\n')[0]}`);
    }
    if (!staging) {
      await withDeadline(this.device.queue.onSubmittedWorkDone(), label);
      return [];
    }
    try {
      await withDeadline(staging.mapAsync(MapMode.READ), label);
      const whole = staging.getMappedRange();
      const out: ArrayBuffer[] = [];
      let o = 0;
      for (const r of reads) {
        out.push(whole.slice(o, o + r.bytes));
        o += Math.ceil(r.bytes / 4) * 4;
      }
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
  }

  dispose(): void {
    for (const b of this.placeholders) b.destroy();
    this.placeholders.length = 0;
    this.pipelines.clear();
  }
}

/** A dispatch's uniform block: each job's fields in order, u32 or f32 (fields named pad* may be left out). */
function uniformBlock(d: Dispatch): Uint8Array {
  const spec: KernelSpec = KERNELS[d.kernel];
  const floats = new Set<string>(spec.floatFields ?? []);
  const jobs = Array.isArray(d.uniforms) ? d.uniforms : [d.uniforms];
  if (jobs.length < 1 || jobs.length > jobsOf(d.kernel)) throw new Error(`webgpu: ${d.kernel} takes 1 to ${jobsOf(d.kernel)} jobs`);
  const block = new ArrayBuffer(uniformBytes(d.kernel));
  jobs.forEach((values, job) => {
    const u32 = new Uint32Array(block, job * jobBytes(d.kernel)), f32 = new Float32Array(block, job * jobBytes(d.kernel));
    spec.fields.forEach((f, j) => {
      const v = values[f] ?? (f.startsWith('pad') ? 0 : undefined);
      if (v === undefined) throw new Error(`webgpu: ${d.kernel} dispatch lacks ${f}`);
      if (floats.has(f)) f32[j] = v;
      else u32[j] = v >>> 0;
    });
  });
  return new Uint8Array(block);
}

/** Rejects when the promise has not settled within the deadline: a device that stopped answering. */
async function withDeadline<T>(p: Promise<T>, label: string): Promise<T> {
  const ms = deadlineMs();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the GPU did not finish ${label} within ${Math.round(ms / 1000)} s`)), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

/** A grid of `groups` workgroups folded into two dimensions (at most 65535 in each). */
export function grid1d(groups: number): [number, number] {
  return groups <= MAX_GROUPS ? [groups, 1] : [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS)];
}
