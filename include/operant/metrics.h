// operant/metrics.h — everything of the metrics module in one include.
#pragma once

#include "operant/metrics/collector.h"
#include "operant/metrics/counter.h"
#include "operant/metrics/exposition.h"
#include "operant/metrics/family.h"
#include "operant/metrics/gauge.h"
#include "operant/metrics/histogram.h"
#include "operant/metrics/opts.h"
#include "operant/metrics/process_collector.h"
#include "operant/metrics/registry.h"
#include "operant/metrics/snapshot.h"
#include "operant/metrics/summary.h"
#include "operant/metrics/types.h"
