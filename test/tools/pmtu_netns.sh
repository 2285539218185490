# A three-namespace path for the path MTU tests and benchmark (sourced after
# lib.sh): A -- R -- B, veths at 1500 bytes except R's side of R -- B, which is
# 1280, so only the router's second hop is narrow (both ends think 1500).
#   A: 10.77.1.1, fd77:1::1     R: 10.77.1.2 / 10.77.2.2, fd77:1::2 / fd77:2::2
#   B: 10.77.2.1, fd77:2::1
# Names start with tou-pmtu-<pid>; pmtu_netns_down (on exit too) deletes them.

PMTU_NS=tou-pmtu-$$
PMTU_A=$PMTU_NS-a
PMTU_R=$PMTU_NS-r
PMTU_B=$PMTU_NS-b
PMTU_UP=0

pmtu_netns_down() {
  local ns
  for ns in "$PMTU_A" "$PMTU_R" "$PMTU_B"; do ip netns del "$ns" 2>/dev/null || true; done
  PMTU_UP=0
}

# Skips (exit 77) when not root or network namespaces do not work here.
pmtu_netns_require() {
  [[ $(id -u) == 0 ]] || skip "needs root (network namespaces)"
  command -v ip >/dev/null || skip "no ip(8)"
  ip netns add "$PMTU_NS-probe" 2>/dev/null || skip "network namespaces unavailable"
  ip netns del "$PMTU_NS-probe"
}

# Builds the path (fresh namespaces, so no cached path MTU survives).
pmtu_netns_up() {
  pmtu_netns_down
  local ns
  for ns in "$PMTU_A" "$PMTU_R" "$PMTU_B"; do ip netns add "$ns"; done
  PMTU_UP=1
  ip link add va netns "$PMTU_A" type veth peer name vra netns "$PMTU_R"
  ip link add vrb netns "$PMTU_R" type veth peer name vb netns "$PMTU_B"
  for ns in "$PMTU_A" "$PMTU_R" "$PMTU_B"; do ip -n "$ns" link set lo up; done
  ip -n "$PMTU_A" link set va mtu 1500 up
  ip -n "$PMTU_R" link set vra mtu 1500 up
  ip -n "$PMTU_R" link set vrb mtu 1280 up
  ip -n "$PMTU_B" link set vb mtu 1500 up
  ip -n "$PMTU_A" addr add 10.77.1.1/24 dev va
  ip -n "$PMTU_R" addr add 10.77.1.2/24 dev vra
  ip -n "$PMTU_R" addr add 10.77.2.2/24 dev vrb
  ip -n "$PMTU_B" addr add 10.77.2.1/24 dev vb
  ip -n "$PMTU_A" -6 addr add fd77:1::1/64 dev va nodad
  ip -n "$PMTU_R" -6 addr add fd77:1::2/64 dev vra nodad
  ip -n "$PMTU_R" -6 addr add fd77:2::2/64 dev vrb nodad
  ip -n "$PMTU_B" -6 addr add fd77:2::1/64 dev vb nodad
  ip -n "$PMTU_A" route add default via 10.77.1.2
  ip -n "$PMTU_B" route add default via 10.77.2.2
  ip -n "$PMTU_A" -6 route add default via fd77:1::2
  ip -n "$PMTU_B" -6 route add default via fd77:2::2
  ip netns exec "$PMTU_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# ICMP black-holed at the router: the "fragmentation needed" it must send
# when a DF packet does not fit the 1280 hop is routed nowhere (a policy
# rule for ICMP into a table holding only a blackhole route). Rate limits
# cannot do this: Linux never rate-limits "fragmentation needed".
pmtu_blackhole_icmp() {
  ip -n "$PMTU_R" route add blackhole default table 77
  ip -n "$PMTU_R" rule add ipproto icmp lookup 77 pref 77
}

# One counter of a namespace's /proc/net/snmp (Ip: / Icmp: lines) or
# /proc/net/snmp6 (Ip6*, Icmp6*), e.g. pmtu_snmp "$PMTU_A" FragCreates.
pmtu_snmp() {
  local ns=$1 name=$2
  if [[ $name == Ip6* || $name == Icmp6* ]]; then
    ip netns exec "$ns" awk -v n="$name" '$1 == n {print $2}' /proc/net/snmp6
    return
  fi
  ip netns exec "$ns" awk -v n="$name" '
    /^(Ip|Icmp):/ { if (!($1 in head)) { head[$1] = $0; next }
                    split(head[$1], k); split($0, v)
                    for (i = 2; i in k; i++) if (k[i] == n) print v[i] }' /proc/net/snmp
}

# Fragments any of the three made or reassembled (IPv4 and IPv6), summed.
pmtu_fragments() {
  local total=0 ns name
  for ns in "$PMTU_A" "$PMTU_R" "$PMTU_B"; do
    for name in FragCreates ReasmReqds Ip6FragCreates Ip6ReasmReqds; do
      total=$((total + $(pmtu_snmp "$ns" "$name")))
    done
  done
  echo "$total"
}
