-- Add an HTTP header to each response (mitmproxy's examples/addons/http-add-header.py).
--
--   mitmc dump -s examples/http-add-header.lua
--
-- mitmproxy keeps the count in the addon object. mitmc runs one Lua state per worker
-- thread, so a count over all flows lives in mitm.shared, the one store the workers share.

return {
    response = function(flow)
        flow.response.headers["count"] = tostring(mitm.shared.incr("http-add-header.count"))
    end,
}
