// The part of the WebGPU API this room uses, declared here rather than taken from @webgpu/types: those declarations
// are global (they would make `navigator.gpu` and `GPUBufferUsage` look available everywhere in the engine, where
// they are not), and a second copy of them would clash with the one tfjs-core pins. Flags are the spec's numbers,
// because Node has no GPUBufferUsage global either.

export const BufferUsage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

export const MapMode = { READ: 0x0001 } as const;

export interface GpuAdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly isFallbackAdapter?: boolean;
}

export type GpuLimits = Record<string, number>;

export interface Gpu {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<GpuAdapter | null>;
}

export interface GpuAdapter {
  readonly info: GpuAdapterInfo;
  readonly limits: GpuLimits;
  readonly features: ReadonlySet<string>;
  requestDevice(descriptor?: { requiredLimits?: Record<string, number>; label?: string }): Promise<GpuDevice>;
}

export interface GpuError {
  readonly message: string;
}

export interface GpuDevice {
  readonly limits: GpuLimits;
  readonly queue: GpuQueue;
  readonly lost: Promise<{ reason: string; message: string }>;
  createBuffer(descriptor: { size: number; usage: number; label?: string; mappedAtCreation?: boolean }): GpuBuffer;
  createShaderModule(descriptor: { code: string; label?: string }): GpuShaderModule;
  createBindGroupLayout(descriptor: { label?: string; entries: GpuBindGroupLayoutEntry[] }): GpuBindGroupLayout;
  createPipelineLayout(descriptor: { bindGroupLayouts: GpuBindGroupLayout[] }): GpuPipelineLayout;
  createComputePipeline(descriptor: {
    layout: GpuPipelineLayout;
    label?: string;
    compute: { module: GpuShaderModule; entryPoint: string };
  }): GpuComputePipeline;
  createBindGroup(descriptor: { layout: GpuBindGroupLayout; entries: GpuBindGroupEntry[]; label?: string }): GpuBindGroup;
  createCommandEncoder(descriptor?: { label?: string }): GpuCommandEncoder;
  pushErrorScope(filter: 'validation' | 'out-of-memory' | 'internal'): void;
  popErrorScope(): Promise<GpuError | null>;
  addEventListener?(type: 'uncapturederror', listener: (event: { error: GpuError }) => void): void;
  destroy(): void;
}

export interface GpuQueue {
  writeBuffer(buffer: GpuBuffer, bufferOffset: number, data: ArrayBufferView, dataOffset?: number, size?: number): void;
  submit(commandBuffers: GpuCommandBuffer[]): void;
  onSubmittedWorkDone(): Promise<void>;
}

export interface GpuBuffer {
  readonly size: number;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

export interface GpuCompilationInfo {
  readonly messages: readonly { type: string; message: string; lineNum: number; linePos: number }[];
}

export interface GpuShaderModule {
  getCompilationInfo(): Promise<GpuCompilationInfo>;
}

export interface GpuBindGroupLayoutEntry {
  binding: number;
  visibility: number; // 4: compute
  buffer: { type: 'uniform' | 'storage' | 'read-only-storage' };
}

export type GpuBindGroupLayout = object;
export type GpuPipelineLayout = object;
export type GpuBindGroup = object;
export type GpuCommandBuffer = object;

export interface GpuComputePipeline {
  getBindGroupLayout(index: number): GpuBindGroupLayout;
}

export interface GpuBindGroupEntry {
  binding: number;
  resource: { buffer: GpuBuffer; offset?: number; size?: number };
}

export interface GpuCommandEncoder {
  beginComputePass(descriptor?: { label?: string }): GpuComputePassEncoder;
  copyBufferToBuffer(source: GpuBuffer, sourceOffset: number, destination: GpuBuffer, destinationOffset: number, size: number): void;
  clearBuffer(buffer: GpuBuffer, offset?: number, size?: number): void;
  finish(): GpuCommandBuffer;
}

export interface GpuComputePassEncoder {
  setPipeline(pipeline: GpuComputePipeline): void;
  setBindGroup(index: number, bindGroup: GpuBindGroup): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}
