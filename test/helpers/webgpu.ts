// Whether this machine has a WebGPU adapter, decided before the tests are declared (node:test's skip is synchronous):
// a child process asks Dawn. The WebGPU tests skip, saying why, only when the package or an adapter is missing; an
// adapter that fails the readback check or the self-check is a failure, not a skip.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const DEVICE_JS = path.resolve(__dirname, '..', '..', 'engine', 'compute', 'webgpu', 'device.js');

let cached: { skip: string | false; adapter: string | null } | null = null;

export function webGpuTestAdapter(): { skip: string | false; adapter: string | null } {
  if (cached) return cached;
  if (process.env.GPTLAB_WEBGPU === '0') return (cached = { skip: 'disabled by GPTLAB_WEBGPU=0', adapter: null });
  const script = `
    const d = require(${JSON.stringify(DEVICE_JS)});
    const say = (o) => { require('fs').writeSync(1, JSON.stringify(o) + '\\n'); process.exit(0); };
    const file = d.findDawn();
    if (!file) say({ none: 'the webgpu package is not installed' });
    const m = { exports: {} };
    process.dlopen(m, file);
    const gpu = m.exports.create([]);
    gpu.requestAdapter().then((a) => say(a ? { adapter: d.reportLine(d.describeAdapter(a.info)) }
      : { none: 'no WebGPU adapter (on Debian 12: mesa-vulkan-drivers from bookworm-backports)' }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
  const line = r.stdout?.trim().split('\n').pop() ?? '';
  try {
    const o = JSON.parse(line) as { none?: string; adapter?: string };
    cached = o.none ? { skip: o.none, adapter: null } : { skip: false, adapter: o.adapter ?? null };
  } catch {
    // The probe itself broke (a crash in the driver, say): run the tests, so that it shows as a failure.
    cached = { skip: false, adapter: null };
  }
  return cached;
}
