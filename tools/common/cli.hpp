// Command-line conventions shared by the tools: --help exits 0, a bad command
// line prints the usage on stderr and exits 2 (as nc and iperf3 users expect).
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace tou::tools {

// nullopt to go on; otherwise the status to exit with.
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv);
// "name: message", the usage, and 2.
int usage_error(const CLI::App& app, const std::string& message);

}  // namespace tou::tools
