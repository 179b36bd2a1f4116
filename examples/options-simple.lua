-- Add a new option (mitmproxy's examples/addons/options-simple.py).
--
--   mitmc dump -s examples/options-simple.lua --set addheader=true

return {
    load = function(loader)
        loader:add_option("addheader", "bool", false, "Add a count header to responses")
    end,

    response = function(flow)
        if mitm.options.addheader then
            flow.response.headers["count"] = tostring(mitm.shared.incr("options-simple.count"))
        end
    end,
}
