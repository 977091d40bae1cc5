// This machine's fp32 and bf16 peak GFLOP/s on the addon's threads (the loops the bench measures with,
// native/peak.cc), best of 3 runs: prints them and the bench option that pins them.
//   npm run build && node scripts/measure-peak.mjs
import { measurePeak } from '../dist/src/engine/backends/native.js';

const fp32 = measurePeak(false), bf16 = measurePeak(true);
console.log(JSON.stringify({ fp32, bf16 }));
console.log(`--peak-gflops fp32=${fp32.gflops.toFixed(1)}${bf16.gflops > 0 ? `,bf16=${bf16.gflops.toFixed(1)}` : ''}`);
