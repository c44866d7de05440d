{
  "targets": [
    {
      "target_name": "gptlab_native",
      "sources": [
        "src/addon.cc",
        "src/runtime.cc",
        "src/gpt.cc",
        "src/gpt_napi.cc",
        "src/gemm_generic.cc",
        "src/gemm_avx2.cc",
        "src/gemm_avx512.cc"
      ],
      "cflags!": ["-O2", "-O0", "-fno-exceptions"],
      "cflags_cc!": ["-O2", "-O0", "-fno-exceptions"],
      "cflags": ["-O3", "-ffp-contract=fast", "-fno-math-errno"],
      "cflags_cc": ["-O3", "-std=gnu++17", "-ffp-contract=fast", "-fno-math-errno"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O3", "-ffp-contract=fast"],
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=gnu++17", "-ffp-contract=fast"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "Optimization": 2 }
      }
    }
  ]
}
