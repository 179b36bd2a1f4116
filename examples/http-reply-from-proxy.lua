-- Send a reply from the proxy without sending the request to the remote server
-- (mitmproxy's examples/addons/http-reply-from-proxy.py).
--
--   mitmc dump -s examples/http-reply-from-proxy.lua
--   curl -x localhost:8080 http://example.com/path

return {
    request = function(flow)
        if flow.request.pretty_url == "http://example.com/path" then
            flow.response = mitm.response(
                200, -- (optional) status code
                "Hello World", -- (optional) content
                { ["Content-Type"] = "text/html" } -- (optional) headers
            )
        end
    end,
}
