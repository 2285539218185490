// The congestion controller registry: a table of {name, factory}, looked up by name (as
// picoquic does). Adding a controller is one line in kControllers.
#include <iterator>
#include <memory>

#include "cc/bbr.hpp"
#include "cc/congestion_controller.hpp"
#include "cc/cubic.hpp"
#include "cc/newreno.hpp"

namespace tou {

namespace {

using Factory = std::unique_ptr<CongestionController> (*)(const CongestionConfig&);

struct Entry {
  std::string_view name;
  Factory make;
};

template <typename Controller>
std::unique_ptr<CongestionController> make(const CongestionConfig& config) {
  return std::make_unique<Controller>(config);
}

// In the order congestion_controller_names() reports them.
constexpr Entry kControllers[] = {
    {"newreno", &make<NewReno>},
    {"cubic", &make<Cubic>},
    {"bbr", &make<Bbr>},
};

}  // namespace

std::unique_ptr<CongestionController> make_congestion_controller(std::string_view name,
                                                                 const CongestionConfig& config) {
  for (const Entry& entry : kControllers) {
    if (entry.name == name) return entry.make(config);
  }
  return nullptr;
}

std::vector<std::string_view> congestion_controller_names() {
  std::vector<std::string_view> names;
  names.reserve(std::size(kControllers));
  for (const Entry& entry : kControllers) names.push_back(entry.name);
  return names;
}

}  // namespace tou
