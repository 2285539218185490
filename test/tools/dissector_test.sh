# The Wireshark dissector (tools/wireshark/tou.lua) under tshark:
#  1. a crafted capture of tou segments with known fields (options included, a
#     bad checksum, an unknown option) decodes to exactly those fields, through
#     the tou.port preference and through Decode As (-d udp.port==N,tou);
#  2. a live capture on loopback of a real transfer shows SYN, SYN-ACK, ACK
#     and FIN with every checksum correct (without tshark, root or bin/tou-cat
#     the test exits 77, which ctest reports as skipped).
source "$(dirname "$0")/lib.sh"

command -v tshark >/dev/null || skip "no tshark"
LUA=$SRC/tools/wireshark/tou.lua
[[ -f $LUA ]] || fail "no $LUA"
tshark_tou() { tshark -X "lua_script:$LUA" "$@" 2>"$WORK/tshark.err"; }

FIELDS=(tou.srcport tou.dstport tou.seq tou.ack tou.hdr_len tou.flags tou.flags.syn tou.flags.ack
  tou.flags.fin tou.flags.reset tou.flags.push tou.flags.urg tou.flags.ece tou.flags.cwr
  tou.flags.str tou.window_size_value tou.checksum.status tou.urgent_pointer tou.options.mss_val
  tou.options.wscale.shift tou.options.wscale.multiplier tou.options.sack_perm
  tou.options.sack.count tou.options.sack_le tou.options.sack_re tou.options.timestamp.tsval
  tou.options.timestamp.tsecr tou.option_kind tou.options.nop tou.options.eol
  tou.options.unknown tou.len)
field_args=()
for field in "${FIELDS[@]}"; do field_args+=(-e "$field"); done

# --- 1. Crafted capture (test/tools/dissector_pcap.py builds it from these values).
python3 "$SRC/test/tools/dissector_pcap.py" "$WORK/crafted.pcap"
tshark_tou -o tou.port:7000 -d udp.port==7001,tou -r "$WORK/crafted.pcap" -T fields \
  -E separator='|' -E occurrence=a -E aggregator=, "${field_args[@]}" >"$WORK/fields.txt" ||
  fail "tshark failed: $(cat "$WORK/tshark.err")"
# Columns: src dst seq ack hdr_len flags syn ack fin rst psh urg ece cwr summary win checksum
# urgent mss ws.shift ws.mult sack_perm sack.count sack_le sack_re tsval tsecr option kinds
# nops eol unknown len
cat >"$WORK/expected.txt" <<'EXPECTED'
40000|7000|1000|0|40|0x02|1|0|0|0|0|0|0|0|[SYN]|65535|Good|0|1460|7|128|1||||1|0|2,4,8,3|1|||0
7000|40000|5000|1001|40|0x12|1|1|0|0|0|0|0|0|[SYN, ACK]|65160|Good|0|1400|8|256|||||7|1|2,8,3|1,1,1|||0
40000|7000|1001|5001|32|0x18|0|1|0|0|1|0|0|0|[PSH, ACK]|502|Good|0||||||||2|7|8|1,1|||100
7000|40000|5001|1101|52|0x10|0|1|0|0|0|0|0|0|[ACK]|509|Good|0|||||2|3000,5896|4448,7344|8|2|8,5|1,1,1,1|||0
40000|7000|1101|5001|20|0x11|0|1|1|0|0|0|0|0|[FIN, ACK]|502|Good|0||||||||||||||0
7000|40000|5001|1102|20|0x14|0|1|0|1|0|0|0|0|[RST, ACK]|0|Good|0||||||||||||||0
40000|7000|1101|5001|20|0x10|0|1|0|0|0|0|0|0|[ACK]|502|Bad|0||||||||||||||3
40000|7000|4294967295|2|28|0xf0|0|1|0|0|0|1|1|1|[ACK, URG, ECE, CWR]|1|Good|3||||||||||30||1|abcd|5
40000|7001|42|43|20|0x10|0|1|0|0|0|0|0|0|[ACK]|44|Good|0||||||||||||||5
EXPECTED
diff "$WORK/expected.txt" "$WORK/fields.txt" || fail "decoded fields differ from the crafted ones (- expected, + decoded)"
note "crafted capture: 9 segments decoded exactly"

# The info column, as Wireshark's TCP writes it.
tshark_tou -o tou.port:7000 -r "$WORK/crafted.pcap" -T fields -e _ws.col.Info >"$WORK/info.txt"
grep -qxF '40000 → 7000 [SYN] Seq=1000 Win=65535 Len=0 MSS=1460 SACK_PERM TSval=1 TSecr=0 WS=128' "$WORK/info.txt" ||
  fail "SYN info column: $(head -1 "$WORK/info.txt")"
grep -qxF '7000 → 40000 [ACK] Seq=5001 Ack=1101 Win=509 Len=0 TSval=8 TSecr=2 SLE=3000 SRE=4448 SLE=5896 SRE=7344' "$WORK/info.txt" ||
  fail "SACK info column: $(sed -n 4p "$WORK/info.txt")"
grep -qF '[BAD CHECKSUM]' "$WORK/info.txt" || fail "the bad checksum is not flagged in the info column"
# Without the preference or Decode As, nothing is decoded as tou.
[[ $(tshark_tou -r "$WORK/crafted.pcap" -Y tou | wc -l) == 0 ]] || fail "decoded tou with no port set"
[[ $(tshark_tou -d udp.port==7001,tou -r "$WORK/crafted.pcap" -Y tou | wc -l) == 1 ]] ||
  fail "Decode As on 7001 did not decode exactly the one segment on that port"

# --- 2. Live capture of a real tou transfer over loopback (needs tou-cat and root).
# When it cannot run, the test is a skip (exit 77), not a pass: part 1 alone
# does not prove what the test's name claims.
[[ -x $BIN/tou-cat ]] || skip "no $BIN/tou-cat: live capture not run (the crafted capture passed)"
[[ $(id -u) == 0 ]] || skip "not root: live capture not run (the crafted capture passed)"
port=$(free_udp_port)
random_file "$WORK/data" 200000
spawn tshark -i lo -f "udp port $port" -w "$WORK/live.pcapng" -a duration:30 2>"$WORK/capture.err"
capture_pid=$!
wait_for 10 grep -q "Capturing on" "$WORK/capture.err" || fail "tshark did not start capturing"
spawn timeout 30 "$BIN/tou-cat" -l 127.0.0.1 "$port" >"$WORK/received"
server_pid=$!
wait_for 10 udp_port_bound "$port" || fail "tou-cat -l did not bind $port"
timeout 30 "$BIN/tou-cat" 127.0.0.1 "$port" <"$WORK/data" >/dev/null || fail "tou-cat client failed"
wait_within 30 "$server_pid" || fail "tou-cat server exited with $?"
[[ $(sha256 "$WORK/received") == $(sha256 "$WORK/data") ]] || fail "tou-cat transfer damaged"
sleep 0.5  # let tshark write the last packets
stop_within 10 "$capture_pid" INT || true
tshark_tou -o "tou.port:$port" -r "$WORK/live.pcapng" -T fields -e tou.flags.str \
  -e tou.checksum.status -e tou.len >"$WORK/live.txt" || fail "tshark failed on the live capture"
note "live capture: $(wc -l <"$WORK/live.txt") segments; $(cut -f1 "$WORK/live.txt" | sort | uniq -c | tr -s ' \n' ' ')"
grep -q $'^\\[SYN\\]\t' "$WORK/live.txt" || fail "no SYN decoded"
grep -q $'^\\[SYN, ACK\\]\t' "$WORK/live.txt" || fail "no SYN-ACK decoded"
grep -q $'^\\[ACK\\]\t' "$WORK/live.txt" || fail "no ACK decoded"
grep -q 'FIN' "$WORK/live.txt" || fail "no FIN decoded"
[[ $(cut -f2 "$WORK/live.txt" | sort -u) == Good ]] || fail "checksums not all Good: $(cut -f2 "$WORK/live.txt" | sort | uniq -c)"
payload=$(awk -F'\t' '{s += $3} END {print s}' "$WORK/live.txt")
((payload >= 200000)) || fail "payload decoded: $payload bytes, sent 200000"
echo "PASS"
