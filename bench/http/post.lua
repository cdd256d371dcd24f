-- wrk script for bench/http/run's post case: every request is a POST of
-- the file HTTP_BODY (compact JSON, ~1 KiB) as application/json.
local file = assert(io.open((assert(os.getenv('HTTP_BODY'), 'HTTP_BODY not set')), 'rb'))
wrk.method = 'POST'
wrk.body = file:read('*a')
wrk.headers['Content-Type'] = 'application/json'
file:close()
