#include "mcp/schema.h"

#include <string>

namespace strata::mcp {

namespace {

using json = nlohmann::json;

Status CheckInteger(const std::string& name, const json& prop, const json& v) {
  const int64_t min = prop.value("minimum", INT64_MIN);
  const int64_t max = prop.value("maximum", INT64_MAX);
  const bool in_range = v.is_number_integer() &&
                        !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) &&
                        v.get<int64_t>() >= min && v.get<int64_t>() <= max;
  if (in_range) return Status::OK();
  std::string range;
  if (prop.contains("minimum") && prop.contains("maximum")) {
    range = " from " + std::to_string(min) + " to " + std::to_string(max);
  } else if (prop.contains("minimum")) {
    range = " of at least " + std::to_string(min);
  }
  return Status::Invalid("argument '" + name + "' must be an integer" + range);
}

Status CheckString(const std::string& name, const json& prop, const json& v) {
  if (!v.is_string()) return Status::Invalid("argument '" + name + "' must be a string");
  const size_t len = v.get_ref<const std::string&>().size();
  if (len < prop.value("minLength", size_t{0})) {
    return Status::Invalid("argument '" + name + "' must not be empty");
  }
  if (prop.contains("maxLength") && len > prop["maxLength"].get<size_t>()) {
    return Status::Invalid("argument '" + name + "' is over " +
                           std::to_string(prop["maxLength"].get<size_t>()) + " bytes");
  }
  return Status::OK();
}

Status CheckValue(const std::string& name, const json& prop, const json& v) {
  const std::string type = prop.value("type", "");
  if (type == "integer") return CheckInteger(name, prop, v);
  if (type == "string") return CheckString(name, prop, v);
  if (type == "boolean") {
    if (v.is_boolean()) return Status::OK();
    return Status::Invalid("argument '" + name + "' must be true or false");
  }
  return Status::Invalid("argument '" + name + "' has a type this server cannot check");
}

}  // namespace

Status ValidateArguments(const json& schema, const json& args) {
  if (!args.is_null() && !args.is_object()) {
    return Status::Invalid("the arguments must be a JSON object");
  }
  const json& props = schema.at("properties");
  if (args.is_object()) {
    for (const auto& [k, v] : args.items()) {
      auto p = props.find(k);
      if (p == props.end()) return Status::Invalid("unknown argument '" + k + "'");
      STRATA_RETURN_IF_ERROR(CheckValue(k, *p, v));
    }
  }
  for (const json& r : schema.value("required", json::array())) {
    const std::string name = r.get<std::string>();
    if (!args.is_object() || !args.contains(name)) {
      return Status::Invalid("missing required argument '" + name + "'");
    }
  }
  return Status::OK();
}

}  // namespace strata::mcp
