// Includes QCustomPlot under QT_NO_KEYWORDS: its header uses the bare `signals:`/`slots`/`emit`/`foreach` keywords, which
// this project disables (they break torch headers). Include this instead of <qcustomplot.h>.
#pragma once

#ifdef QT_NO_KEYWORDS
#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach Q_FOREACH
#include <qcustomplot.h>
#undef signals
#undef slots
#undef emit
#undef foreach
#else
#include <qcustomplot.h>
#endif
