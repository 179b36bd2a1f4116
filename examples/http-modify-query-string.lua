-- Modify HTTP query parameters (mitmproxy's examples/addons/http-modify-query-string.py).
--
--   mitmc dump -s examples/http-modify-query-string.lua

return {
    request = function(flow)
        flow.request.query["mitmproxy"] = "rocks"
    end,
}
