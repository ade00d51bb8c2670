// Number and time formatting shared by the panels, plots and exports (parameter counts, perplexities, ETAs).
#pragma once

#include <QString>

namespace shedder::ui {

QString formatCount(qint64 n);          // 1234 -> "1.23 K", 129135360 -> "129.1 M"
QString formatCountExact(qint64 n);     // "129,135,360"
QString formatDuration(double seconds); // "12 s", "3 min 05 s", "1 h 02 min"; "" when < 0
QString formatPpl(double ppl);          // 4 significant decimals: "12.34", "1234", "1.234e+05"
QString formatDelta(double delta, double base);  // "+1.234 (+5.6%)"
// A file-name-safe lower-case form of a name ("Mamba 130m" -> "mamba-130m"; figure, project and run names).
QString fileSlug(QString s);

}  // namespace shedder::ui
