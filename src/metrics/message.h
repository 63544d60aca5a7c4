// Internal: formatting of values inside error messages, shared by the metrics sources.
#pragma once

#include <string>
#include <string_view>

namespace operant::metrics::detail {

// `s` in double quotes with `"`, `\` and newlines escaped, so a hostile value stays readable.
std::string quoted(std::string_view s);

}  // namespace operant::metrics::detail
