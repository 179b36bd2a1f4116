-- Rewrite raw TCP messages (mitmproxy's examples/addons/tcp-simple.py).
--
--   mitmc dump --tcp-hosts ".*" -s examples/tcp-simple.lua
--
-- Replaces every "foo" with "bar" in each message before it is forwarded and logs it. TCP
-- is a stream: a "message" is whatever one read returned, so a "foo" split across two reads
-- is not replaced. Good enough for a quick hack, as mitmproxy's docstring says.

-- Printable ASCII as is, everything else as \xNN (mitmproxy's bytes_to_escaped_str).
local function escaped(s)
    return (s:gsub("[^\32-\126]", function(c)
        local b = c:byte()
        if b == 10 then
            return "\\n"
        elseif b == 13 then
            return "\\r"
        elseif b == 9 then
            return "\\t"
        end
        return string.format("\\x%02x", b)
    end))
end

return {
    tcp_message = function(flow)
        local messages = flow.messages
        local message = messages[#messages]
        message.content = message.content:gsub("foo", "bar")
        mitm.log.info(string.format("tcp_message[from_client=%s), content=%s]", message.from_client,
            escaped(message.content)))
    end,
}
