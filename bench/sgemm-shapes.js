// Engine-shaped sgemm timings: node bench/sgemm-shapes.js [A|B] [threads]  (ADDON=path to test another build)
const { findAddon } = require('./sgemm.js');
const m = { exports: {} }; process.dlopen(m, process.env.ADDON || findAddon()); const a = m.exports;
const shapes = process.argv[2] === 'B' ? [
 [1,2048,4744,128,0,0],[1,2048,128,4744,0,1],[1,128,4744,2048,1,0],
 [1,2048,512,128,0,0],[1,2048,128,512,0,1],[1,128,512,2048,1,0],[1,512,128,2048,1,0],
 [64,128,128,32,0,1],[64,128,32,128,0,0],[64,32,128,128,1,0],
] : [
 [1,256,4744,256,0,0],[1,256,256,4744,0,1],[1,256,4744,256,1,0],
 [1,256,1024,256,0,0],[1,256,256,1024,0,1],[1,256,1024,256,1,0],[1,1024,256,256,1,0],
 [64,32,32,32,0,1],[64,32,32,32,0,0],[64,32,32,32,1,0],
];
const thr = +(process.argv[3] || 1);
a.setThreads(thr, false);
for (const [batch,M,N,K,ta,tb] of shapes) {
  const A = new Float32Array(batch*M*K).fill(0.5), B = new Float32Array(batch*K*N).fill(0.25), C = new Float32Array(batch*M*N);
  const f = () => a.sgemmBatched(!!ta,!!tb,batch,M,N,K,1,A,0,M*K,ta?M:K,B,0,K*N,tb?K:N,0,C,0,M*N,N);
  for (let i=0;i<3;i++) f();
  const ts=[]; const t0=Date.now(); while(Date.now()-t0<300||ts.length<5){const s=process.hrtime.bigint(); f(); ts.push(Number(process.hrtime.bigint()-s));}
  ts.sort((x,y)=>x-y); const sec=ts[ts.length>>1]/1e9; // median
  const best=ts[0]/1e9;
  console.log(`${batch}x[${M}x${N}x${K}] ta=${ta} tb=${tb}: median ${(2*batch*M*N*K/sec/1e9).toFixed(1)} best ${(2*batch*M*N*K/best/1e9).toFixed(1)} GF/s  ${(sec*1e3).toFixed(2)} ms`);
}
