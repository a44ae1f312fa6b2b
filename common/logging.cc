#include "common/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace strata {

Status SetupLogging(const std::string& name, const std::string& log_file) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (log_file.empty() || log_file == "-") {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
    } catch (const spdlog::spdlog_ex& e) {
      return Status::IO("cannot open log file " + log_file + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  return Status::OK();
}

}  // namespace strata
