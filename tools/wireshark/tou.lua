-- tou.lua: a Wireshark/tshark dissector for tou, TCP carried over UDP.
--
-- Each UDP datagram holds one segment in TCP's header layout (RFC 9293 3.1):
-- ports, sequence and acknowledgment numbers, data offset, flags, window,
-- checksum, urgent pointer, options (MSS, window scale, SACK-permitted, SACK,
-- timestamps, NOP/EOL, unknown kinds) and the payload. The one tou-specific
-- part is the checksum: the Internet checksum over a 4-byte pseudo-header
-- {0, 6, segment length (16 bits)} and the segment, with no IP addresses
-- (UDP's own checksum covers them). This dissector verifies it.
--
-- Use: tshark -X lua_script:tools/wireshark/tou.lua -o tou.port:7000 -r cap.pcapng
--      tshark -X lua_script:tools/wireshark/tou.lua -d udp.port==7000,tou -r cap.pcapng
-- or copy it to ~/.local/lib/wireshark/plugins/ and use Decode As... > TOU, or
-- set Preferences > Protocols > TOU > UDP port.
--
-- Sequence numbers are shown raw (no relative numbering).

local tou = Proto("tou", "tou (TCP over UDP)")

local FLAG_NAMES = {
  { 0x80, "CWR" }, { 0x40, "ECE" }, { 0x20, "URG" }, { 0x10, "ACK" },
  { 0x08, "PSH" }, { 0x04, "RST" }, { 0x02, "SYN" }, { 0x01, "FIN" },
}
-- Wireshark's TCP lists them in this order in the info column.
local INFO_ORDER = { "FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR" }

-- Plain arithmetic instead of bit operators: Wireshark embeds Lua 5.2 (no `&`)
-- in some releases and 5.4 (no bit32) in others.
local function has_bit(value, mask) return math.floor(value / mask) % 2 == 1 end
local function pow2(n) return math.floor(2 ^ n) end

local OPTION_NAMES = {
  [0] = "End of Option List (EOL)", [1] = "No-Operation (NOP)", [2] = "Maximum segment size",
  [3] = "Window scale", [4] = "SACK permitted", [5] = "SACK", [8] = "Timestamps",
}

local f = tou.fields
f.srcport = ProtoField.uint16("tou.srcport", "Source Port", base.DEC)
f.dstport = ProtoField.uint16("tou.dstport", "Destination Port", base.DEC)
f.port = ProtoField.uint16("tou.port", "Source or Destination Port", base.DEC)
f.seq = ProtoField.uint32("tou.seq", "Sequence Number (raw)", base.DEC)
f.ack = ProtoField.uint32("tou.ack", "Acknowledgment Number (raw)", base.DEC)
f.hdr_len = ProtoField.uint8("tou.hdr_len", "Header Length (bytes)", base.DEC)
f.data_offset = ProtoField.uint8("tou.data_offset", "Data Offset (32-bit words)", base.DEC, nil, 0xF0)
f.reserved = ProtoField.uint8("tou.flags.res", "Reserved", base.HEX, nil, 0x0F)
f.flags = ProtoField.uint8("tou.flags", "Flags", base.HEX)
f.flag_cwr = ProtoField.bool("tou.flags.cwr", "Congestion Window Reduced (CWR)", 8, nil, 0x80)
f.flag_ece = ProtoField.bool("tou.flags.ece", "ECN-Echo", 8, nil, 0x40)
f.flag_urg = ProtoField.bool("tou.flags.urg", "Urgent", 8, nil, 0x20)
f.flag_ack = ProtoField.bool("tou.flags.ack", "Acknowledgment", 8, nil, 0x10)
f.flag_psh = ProtoField.bool("tou.flags.push", "Push", 8, nil, 0x08)
f.flag_rst = ProtoField.bool("tou.flags.reset", "Reset", 8, nil, 0x04)
f.flag_syn = ProtoField.bool("tou.flags.syn", "Syn", 8, nil, 0x02)
f.flag_fin = ProtoField.bool("tou.flags.fin", "Fin", 8, nil, 0x01)
f.flags_str = ProtoField.string("tou.flags.str", "Flags Summary")
f.window = ProtoField.uint16("tou.window_size_value", "Window (raw, before scaling)", base.DEC)
f.checksum = ProtoField.uint16("tou.checksum", "Checksum", base.HEX)
f.checksum_calc = ProtoField.uint16("tou.checksum.calculated", "Calculated Checksum", base.HEX)
f.checksum_status = ProtoField.string("tou.checksum.status", "Checksum Status")
f.urgent = ProtoField.uint16("tou.urgent_pointer", "Urgent Pointer", base.DEC)
f.options = ProtoField.bytes("tou.options", "Options")
f.option_kind = ProtoField.uint8("tou.option_kind", "Kind", base.DEC, OPTION_NAMES)
f.option_len = ProtoField.uint8("tou.option_len", "Length", base.DEC)
f.opt_eol = ProtoField.none("tou.options.eol", "End of Option List (EOL)")
f.opt_nop = ProtoField.none("tou.options.nop", "No-Operation (NOP)")
f.opt_mss = ProtoField.uint16("tou.options.mss_val", "MSS Value", base.DEC)
f.opt_ws_shift = ProtoField.uint8("tou.options.wscale.shift", "Shift Count", base.DEC)
f.opt_ws_mult = ProtoField.uint32("tou.options.wscale.multiplier", "Multiplier", base.DEC)
f.opt_sack_perm = ProtoField.none("tou.options.sack_perm", "SACK Permitted")
f.opt_sack_count = ProtoField.uint8("tou.options.sack.count", "SACK Blocks", base.DEC)
f.opt_sack_le = ProtoField.uint32("tou.options.sack_le", "Left Edge", base.DEC)
f.opt_sack_re = ProtoField.uint32("tou.options.sack_re", "Right Edge", base.DEC)
f.opt_tsval = ProtoField.uint32("tou.options.timestamp.tsval", "Timestamp Value", base.DEC)
f.opt_tsecr = ProtoField.uint32("tou.options.timestamp.tsecr", "Timestamp Echo Reply", base.DEC)
f.opt_unknown = ProtoField.bytes("tou.options.unknown", "Unknown Option Data")
f.len = ProtoField.uint32("tou.len", "Payload Length", base.DEC)
f.payload = ProtoField.bytes("tou.payload", "Payload")

local e = tou.experts
e.malformed = ProtoExpert.new("tou.malformed", "Malformed tou segment", expert.group.MALFORMED,
                              expert.severity.ERROR)
e.bad_checksum = ProtoExpert.new("tou.checksum.bad", "Bad tou checksum", expert.group.CHECKSUM,
                                 expert.severity.ERROR)

tou.prefs.port = Pref.uint("UDP port", 0, "Decode UDP datagrams on this port as tou (0: none)")

-- RFC 1071 checksum with the tou pseudo-header {0, 6, length}, over the whole
-- segment with its checksum field taken as zero.
local function tou_checksum(tvb)
  local len = tvb:len()
  local sum = 6 + len  -- the pseudo-header's two 16-bit words: 0x0006 and the length
  local i = 0
  while i + 1 < len do
    if i ~= 16 then sum = sum + tvb:range(i, 2):uint() end
    i = i + 2
  end
  if i < len then sum = sum + tvb:range(i, 1):uint() * 256 end  -- odd byte, zero padded
  while sum > 0xFFFF do sum = sum % 65536 + math.floor(sum / 65536) end
  return 0xFFFF - sum  -- one's complement
end

-- Decodes the options into `tree`; returns the info-column text they add.
local function dissect_options(tvb, tree, start, stop)
  local subtree = tree:add(f.options, tvb:range(start, stop - start))
  subtree:set_text(string.format("Options: (%d bytes)", stop - start))
  local info = {}
  local i = start
  while i < stop do
    local kind = tvb:range(i, 1):uint()
    if kind == 0 then
      subtree:add(f.opt_eol, tvb:range(i, 1))
      break
    elseif kind == 1 then
      subtree:add(f.opt_nop, tvb:range(i, 1))
      i = i + 1
    else
      if i + 1 >= stop then
        subtree:add_proto_expert_info(e.malformed, "option runs past the header")
        break
      end
      local len = tvb:range(i + 1, 1):uint()
      if len < 2 or i + len > stop then
        subtree:add_proto_expert_info(e.malformed, string.format("bad option length %d", len))
        break
      end
      local opt = tvb:range(i, len)
      local name = OPTION_NAMES[kind] or string.format("Unknown (kind %d)", kind)
      local item = subtree:add(tou, opt, string.format("%s", name))
      item:add(f.option_kind, tvb:range(i, 1))
      item:add(f.option_len, tvb:range(i + 1, 1))
      if kind == 2 and len == 4 then
        local mss = tvb:range(i + 2, 2):uint()
        item:add(f.opt_mss, tvb:range(i + 2, 2))
        item:append_text(string.format(": %d bytes", mss))
        info[#info + 1] = "MSS=" .. mss
      elseif kind == 3 and len == 3 then
        local shift = tvb:range(i + 2, 1):uint()
        item:add(f.opt_ws_shift, tvb:range(i + 2, 1))
        local multiplier = pow2(math.min(shift, 14))  -- RFC 7323 2.3: at most 14
        item:add(f.opt_ws_mult, tvb:range(i + 2, 1), multiplier)
        item:append_text(string.format(": %d (multiply by %d)", shift, multiplier))
        info[#info + 1] = string.format("WS=%d", multiplier)
      elseif kind == 4 and len == 2 then
        item:add(f.opt_sack_perm, opt)
        info[#info + 1] = "SACK_PERM"
      elseif kind == 5 and (len - 2) % 8 == 0 then
        local blocks = math.floor((len - 2) / 8)
        item:add(f.opt_sack_count, tvb:range(i + 1, 1), blocks)
        for b = 0, blocks - 1 do
          local at = i + 2 + 8 * b
          local le, re = tvb:range(at, 4):uint(), tvb:range(at + 4, 4):uint()
          item:add(f.opt_sack_le, tvb:range(at, 4))
          item:add(f.opt_sack_re, tvb:range(at + 4, 4))
          item:append_text(string.format(" %d-%d", le, re))
          info[#info + 1] = string.format("SLE=%d SRE=%d", le, re)
        end
      elseif kind == 8 and len == 10 then
        local tsval, tsecr = tvb:range(i + 2, 4):uint(), tvb:range(i + 6, 4):uint()
        item:add(f.opt_tsval, tvb:range(i + 2, 4))
        item:add(f.opt_tsecr, tvb:range(i + 6, 4))
        item:append_text(string.format(": TSval %d, TSecr %d", tsval, tsecr))
        info[#info + 1] = string.format("TSval=%d TSecr=%d", tsval, tsecr)
      elseif OPTION_NAMES[kind] then
        item:add_proto_expert_info(e.malformed, string.format("wrong length %d", len))
      elseif len > 2 then
        item:add(f.opt_unknown, tvb:range(i + 2, len - 2))
      end
      i = i + len
    end
  end
  return table.concat(info, " ")
end

function tou.dissector(tvb, pinfo, tree)
  local len = tvb:len()
  pinfo.cols.protocol = "TOU"
  local root = tree:add(tou, tvb:range(0, len))
  if len < 20 then
    root:add_proto_expert_info(e.malformed, "shorter than the 20-byte header")
    pinfo.cols.info = "[Malformed: too short]"
    return len
  end
  local srcport, dstport = tvb:range(0, 2):uint(), tvb:range(2, 2):uint()
  local seq, ack = tvb:range(4, 4):uint(), tvb:range(8, 4):uint()
  local hdr_len = math.floor(tvb:range(12, 1):uint() / 16) * 4
  local flags = tvb:range(13, 1):uint()
  local window = tvb:range(14, 2):uint()

  root:add(f.srcport, tvb:range(0, 2))
  root:add(f.dstport, tvb:range(2, 2))
  root:add(f.port, tvb:range(0, 2)):set_hidden()
  root:add(f.port, tvb:range(2, 2)):set_hidden()
  root:add(f.seq, tvb:range(4, 4))
  root:add(f.ack, tvb:range(8, 4))
  root:add(f.hdr_len, tvb:range(12, 1), hdr_len)
  root:add(f.data_offset, tvb:range(12, 1))

  local names = {}
  for _, pair in ipairs(FLAG_NAMES) do
    if has_bit(flags, pair[1]) then names[pair[2]] = true end
  end
  local listed = {}
  for _, name in ipairs(INFO_ORDER) do
    if names[name] then listed[#listed + 1] = name end
  end
  local summary = "[" .. table.concat(listed, ", ") .. "]"
  local flag_tree = root:add(f.flags, tvb:range(13, 1))
  flag_tree:append_text(" " .. summary)
  flag_tree:add(f.reserved, tvb:range(12, 1))
  for _, field in ipairs({ f.flag_cwr, f.flag_ece, f.flag_urg, f.flag_ack, f.flag_psh, f.flag_rst,
                           f.flag_syn, f.flag_fin }) do
    flag_tree:add(field, tvb:range(13, 1))
  end
  flag_tree:add(f.flags_str, tvb:range(13, 1), summary)
  root:add(f.window, tvb:range(14, 2))

  local sent = tvb:range(16, 2):uint()
  local computed = tou_checksum(tvb)
  local ck = root:add(f.checksum, tvb:range(16, 2))
  local good = sent == computed
  ck:append_text(good and " [correct]" or string.format(" [incorrect, should be 0x%04x]", computed))
  ck:add(f.checksum_calc, tvb:range(16, 2), computed):set_generated()
  ck:add(f.checksum_status, tvb:range(16, 2), good and "Good" or "Bad"):set_generated()
  if not good then ck:add_proto_expert_info(e.bad_checksum) end
  root:add(f.urgent, tvb:range(18, 2))

  if hdr_len < 20 or hdr_len > len then
    root:add_proto_expert_info(e.malformed, string.format("bad data offset: %d bytes", hdr_len))
    pinfo.cols.info = string.format("%d → %d %s [Malformed: data offset %d]", srcport, dstport,
                                    summary, hdr_len)
    return len
  end
  local option_info = ""
  if hdr_len > 20 then option_info = dissect_options(tvb, root, 20, hdr_len) end

  local payload_len = len - hdr_len
  root:add(f.len, tvb:range(12, 1), payload_len):set_generated()
  if payload_len > 0 then root:add(f.payload, tvb:range(hdr_len, payload_len)) end
  root:append_text(string.format(", Src Port: %d, Dst Port: %d, Seq: %d%s, Len: %d", srcport,
                                 dstport, seq, has_bit(flags, 0x10) and (", Ack: " .. ack) or "",
                                 payload_len))

  local info = string.format("%d → %d %s Seq=%d", srcport, dstport, summary, seq)
  if has_bit(flags, 0x10) then info = info .. " Ack=" .. ack end
  info = info .. " Win=" .. window .. " Len=" .. payload_len
  if has_bit(flags, 0x20) then info = info .. " Urg=" .. tvb:range(18, 2):uint() end
  if option_info ~= "" then info = info .. " " .. option_info end
  if not good then info = info .. " [BAD CHECKSUM]" end
  pinfo.cols.info = info
  return len
end

-- Registration: "Decode As" for any UDP port, plus the port preference.
local udp_port = DissectorTable.get("udp.port")
udp_port:add_for_decode_as(tou)
local registered_port = 0

function tou.prefs_changed()
  if registered_port ~= 0 then udp_port:remove(registered_port, tou) end
  registered_port = tou.prefs.port
  if registered_port ~= 0 then udp_port:add(registered_port, tou) end
end
