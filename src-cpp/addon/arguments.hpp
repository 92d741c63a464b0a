// Turning JS values into kernel arguments, on the JS thread, before anything is queued.
#pragma once

#include <napi.h>

#include <vector>

#include "kernel.hpp"

namespace spindle::addon {

// Converts one JS value. Numbers and bigints are copied; a TypedArray, Buffer or DataView
// (including one over a SharedArrayBuffer) becomes a View of its bytes, and a reference to
// it is added to `keep_alive` so its memory outlives the job. Anything else is a TypeError
// naming the argument's position. `keep_alive` may be null when the caller keeps a reference
// to something that holds the value instead (submitBatch references the chunk's array once,
// rather than each of thousands of views: every reference is a GC root).
Arg to_arg(Napi::Env env, Napi::Value value, size_t position, std::vector<Napi::ObjectReference>* keep_alive);

// The 64-bit progress slot of a SharedCounter's BigInt64Array view, or null for undefined.
int64_t* to_progress_slot(Napi::Env env, Napi::Value value, std::vector<Napi::ObjectReference>& keep_alive);

}  // namespace spindle::addon
