#include "arguments.hpp"

#include <string>

namespace spindle::addon {

namespace {

// Bytes per element of a typed array type: the length napi_get_typedarray_info reports is in
// elements. (Napi::TypedArray::ElementSize() would ask N-API for the type a second time.)
size_t element_size(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: return 8;  // float64, bigint64, biguint64
  }
}

// A view's first byte and length. Goes through napi_get_typedarray_info / dataview_info
// because on Node 20 napi_get_arraybuffer_info rejects a SharedArrayBuffer, while the view
// functions accept views over one (shared/research/native.md §2.2). Called for every view of a
// map chunk, so it makes as few N-API calls as it can.
bool view_bytes(Napi::Env env, Napi::Value value, void** data, size_t* size, napi_typedarray_type* type) {
  if (value.IsTypedArray()) {
    size_t length = 0;
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, value, type, &length, data, nullptr, nullptr), false);
    *size = length * element_size(*type);
    return true;
  }
  if (value.IsDataView()) {
    *type = napi_uint8_array;
    NAPI_THROW_IF_FAILED(env, napi_get_dataview_info(env, value, size, data, nullptr, nullptr), false);
    return true;
  }
  return false;
}

}  // namespace

Arg to_arg(Napi::Env env, Napi::Value value, size_t position, std::vector<Napi::ObjectReference>* keep_alive) {
  const napi_valuetype kind = value.Type();
  switch (kind) {
    case napi_undefined:
      return Arg{};
    case napi_number:
      return Arg::of_number(value.As<Napi::Number>().DoubleValue());
    case napi_bigint: {
      bool lossless = false;
      int64_t v = value.As<Napi::BigInt>().Int64Value(&lossless);
      if (!lossless) throw Napi::RangeError::New(env, "argument " + std::to_string(position) + " does not fit in 64 bits");
      return Arg::of_bigint(v);
    }
    default: {
      void* data = nullptr;
      size_t size = 0;
      napi_typedarray_type type;
      if (kind == napi_object && view_bytes(env, value, &data, &size, &type)) {
        if (keep_alive != nullptr) keep_alive->push_back(Napi::Persistent(value.As<Napi::Object>()));
        return Arg::of_view(data, size);
      }
      throw Napi::TypeError::New(env, "argument " + std::to_string(position) +
                                          " must be a number, a bigint, a TypedArray or a DataView");
    }
  }
}

int64_t* to_progress_slot(Napi::Env env, Napi::Value value, std::vector<Napi::ObjectReference>& keep_alive) {
  if (value.IsUndefined()) return nullptr;
  void* data = nullptr;
  size_t size = 0;
  napi_typedarray_type type;
  if (!value.IsObject() || !view_bytes(env, value, &data, &size, &type) || type != napi_bigint64_array || size < 8) {
    throw Napi::TypeError::New(env, "progress must be a SharedCounter");
  }
  keep_alive.push_back(Napi::Persistent(value.As<Napi::Object>()));
  return static_cast<int64_t*>(data);
}

}  // namespace spindle::addon
