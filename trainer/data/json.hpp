// A minimal JSON reader for dataset.json (MSD layout). Only what the format needs: objects, arrays,
// strings (with \uXXXX escapes), numbers, true/false/null. LibTorch-free.
//
// Contract: parse_json is a pure function of its text; any thread may call it. It throws std::runtime_error
// "<where>:<line>:<column>: what" on the first error; a JsonValue is a value owned by the caller.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ablate::trainer::data {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order

  bool is_object() const { return type == Type::kObject; }
  bool is_array() const { return type == Type::kArray; }
  bool is_string() const { return type == Type::kString; }
  // Member lookup; nullptr when absent or not an object.
  const JsonValue* find(const std::string& key) const;
};

// Parses JSON text (RFC 8259: a raw control character in a string is refused). Throws std::runtime_error
// "<where>:line:column: message"; text of the input in the message has its control characters escaped
// (\0, \xNN), so a NUL never cuts it off.
JsonValue parse_json(const std::string& text, const std::string& where);

}  // namespace ablate::trainer::data
