-- Process individual WebSocket messages (mitmproxy's examples/addons/websocket-simple.py).
--
--   mitmc dump -s examples/websocket-simple.lua
--
-- Logs each message, turns a leading "Hello" into "HAPPY", and drops any message that
-- contains "FOOBAR" so the other side never sees it.

return {
    websocket_message = function(flow)
        local messages = flow.websocket.messages
        local message = messages[#messages] -- the latest message

        -- was the message sent from the client or the server?
        if message.from_client then
            mitm.log.info(string.format("Client sent a message: %q", message.content))
        else
            mitm.log.info(string.format("Server sent a message: %q", message.content))
        end

        -- manipulate the message content
        message.content = message.content:gsub("^Hello", "HAPPY")

        if message.content:find("FOOBAR", 1, true) then
            message:drop() -- not sent to the other endpoint
        end
    end,
}
