{
  # The addon: N-API glue (src-cpp/addon) over the plain C++ core (src-cpp/core).
  # CMakeLists.txt builds the same sources with cmake-js, and the core alone for ctest.
  "targets": [
    {
      "target_name": "spindle",
      "sources": [
        "src-cpp/addon/module.cpp",
        "src-cpp/addon/instance.cpp",
        "src-cpp/addon/arguments.cpp",
        "src-cpp/core/job.cpp",
        "src-cpp/core/recycler.cpp",
        "src-cpp/core/thread_pool.cpp",
        "src-cpp/core/cpu.cpp",
        "src-cpp/core/kernels/registry.cpp",
        "src-cpp/core/kernels/noop.cpp",
        "src-cpp/core/kernels/increment.cpp",
        "src-cpp/core/kernels/count_primes.cpp",
        "src-cpp/core/kernels/sha256.cpp",
        "src-cpp/core/kernels/sha256_file.cpp",
        "src-cpp/core/kernels/sort.cpp",
        "src-cpp/core/sort/radix.cpp",
        "src-cpp/core/sort/scratch.cpp",
        "src-cpp/core/primes/sieve.cpp",
        "src-cpp/core/sha256/sha256.cpp",
        "src-cpp/core/sha256/many.cpp",
        "src-cpp/core/sha256/portable.cpp",
        "src-cpp/core/sha256/shani.cpp",
        "src-cpp/core/sha256/avx2.cpp",
        "src-cpp/core/sha256/armv8.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "src-cpp/core"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2"],
      "cflags_cc": ["-std=c++20", "-O3", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        # The prebuilds' glibc and libstdc++ floor: symbol-version pins, read before every source.
        # Named by file only, found through include_dirs (src-cpp/core): make splits an absolute
        # path at its spaces, so a package installed under a directory with a space in its name
        # could not be compiled (`spindle build-addon`).
        ["OS=='linux'", { "cflags_cc": ["-include", "glibc_floor.hpp"] }]
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
        "GCC_OPTIMIZATION_LEVEL": "3"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++20"] }
      }
    }
  ]
}
