{
  "targets": [{
    "target_name": "unetpp_native",
    "sources": [
      "native/addon.cc", "native/common.cc", "native/layout.cc", "native/conv.cc", "native/conv3d-slices.cc", "native/winograd.cc", "native/winograd3d.cc", "native/head.cc",
      "native/batchnorm.cc", "native/pool.cc", "native/resample.cc", "native/eltwise.cc",
      "native/channels.cc", "native/loss.cc", "native/optim.cc", "native/bench.cc",
      "native/volume.cc", "native/instnorm.cc", "native/peak.cc"
    ],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions", "-O2"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
    "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-Wall", "-Wno-unused-parameter",
                  "<!(node -p \"process.env.UNETPP_MARCH || '-march=native'\")"],
    "ldflags": ["-fopenmp"],
    "libraries": ["-ldnnl"]
  }]
}
