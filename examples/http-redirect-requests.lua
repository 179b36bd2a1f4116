-- Redirect HTTP requests to another server (mitmproxy's
-- examples/addons/http-redirect-requests.py).
--
--   mitmc dump -s examples/http-redirect-requests.lua
--   mitmc dump -s examples/http-redirect-requests.lua --set redirect_to=localhost:8000
--
-- The two hosts are options here (mitmproxy's example has them written in), so that the
-- example can be tried against a local server.

return {
    load = function(loader)
        loader:add_option("redirect_from", "str", "example.org", "Host whose requests are redirected.")
        loader:add_option("redirect_to", "str", "mitmproxy.org", "Where they go: host or host:port.")
    end,

    request = function(flow)
        -- pretty_host takes the Host header of the request into account, which is useful in
        -- transparent mode where we usually only have the IP otherwise.
        if flow.request.pretty_host == mitm.options.redirect_from then
            local host, port = mitm.options.redirect_to:match("^(.-):(%d+)$")
            flow.request.host = host or mitm.options.redirect_to
            if port then
                flow.request.port = tonumber(port)
            end
        end
    end,
}
