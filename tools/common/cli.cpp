#include "cli.hpp"

#include <fmt/format.h>

namespace tou::tools {

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e.what());
  }
  return std::nullopt;
}

int usage_error(const CLI::App& app, const std::string& message) {
  fmt::print(stderr, "{}: {}\n\n{}", app.get_name(), message, app.help());
  return 2;
}

}  // namespace tou::tools
