-- Modify response bodies: replace a word in every text response (in the spirit of
-- mitmproxy's modify_body option and its body-rewriting examples).
--
--   mitmc dump -s examples/http-modify-body.lua --set modify_from=Hello --set modify_to=Howdy
--
-- response.text is the body decoded per Content-Encoding and charset; assigning it encodes
-- it back the same way and fixes Content-Length.

return {
    load = function(loader)
        loader:add_option("modify_from", "str", "Hello", "Text to replace in response bodies.")
        loader:add_option("modify_to", "str", "Howdy", "The replacement.")
    end,

    response = function(flow)
        local ctype = flow.response.headers["content-type"] or ""
        if not ctype:find("^text/") then
            return
        end
        local text = flow.response.text
        if text then
            -- plain find/replace: escape the pattern characters of Lua's gsub
            local from = mitm.options.modify_from:gsub("%p", "%%%0")
            local to = mitm.options.modify_to:gsub("%%", "%%%%")
            flow.response.text = text:gsub(from, to)
        end
    end,
}
