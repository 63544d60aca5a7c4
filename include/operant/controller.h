// operant/controller.h — everything of the controller module: objects, retrievers, the
// workqueue, handlers, recorders (Prometheus and your own), loggers, leader election and the
// controller itself. See docs/controller.md for a guided tour.
#pragma once

#include "operant/controller/clock.h"
#include "operant/controller/controller.h"
#include "operant/controller/handler.h"
#include "operant/controller/leader_elector.h"
#include "operant/controller/logger.h"
#include "operant/controller/object.h"
#include "operant/controller/prometheus_recorder.h"
#include "operant/controller/recorder.h"
#include "operant/controller/retriever.h"
#include "operant/controller/workqueue.h"
