// The engine's side of DPLPMTUD (RFC 8899): each connection's settings, and
// the socket error queue's ICMP "too big" reports handed to the connection
// they name (the core validates and acts on them: core/connection_pmtu.cpp).
#pragma once

#include "core/plpmtud.hpp"
#include "engine/address.hpp"

namespace tou::engine {

// DPLPMTUD for a connection to `remote` over a route whose MTU is route_mtu
// (0: unknown). Off for loopback peers (nothing on the way can be smaller)
// and when the environment says TOU_PMTUD=0; IPv4 (v4-mapped too) searches
// from 1200 bytes, IPv6 from 1280, up to the route's MTU.
PlpmtudConfig plpmtud_config(const SockAddr& remote, int route_mtu);

}  // namespace tou::engine
