// operant/http.h — the whole http module: the embedded server, the client, the metrics handler and the
// web configuration (TLS, basic auth).
#pragma once
#include "operant/http/client.h"
#include "operant/http/metrics_handler.h"
#include "operant/http/server.h"
#include "operant/http/web_config.h"
