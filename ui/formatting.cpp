// Number and time formatting (see formatting.h).
#include "formatting.h"

#include <QLocale>
#include <QRegularExpression>

#include <cmath>

namespace shedder::ui {

QString formatCount(qint64 n) {
  const double a = std::abs(static_cast<double>(n));
  if (a >= 1e9) return QString::number(n / 1e9, 'f', a >= 1e11 ? 0 : (a >= 1e10 ? 1 : 2)) + QStringLiteral(" G");
  if (a >= 1e6) return QString::number(n / 1e6, 'f', a >= 1e8 ? 1 : 2) + QStringLiteral(" M");
  if (a >= 1e3) return QString::number(n / 1e3, 'f', a >= 1e5 ? 1 : 2) + QStringLiteral(" K");
  return QString::number(n);
}

QString formatCountExact(qint64 n) {
  QLocale l(QLocale::English);
  return l.toString(n);
}

QString formatDuration(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return {};
  const qint64 t = static_cast<qint64>(std::llround(s));
  if (t < 60) return QStringLiteral("%1 s").arg(t);
  if (t < 3600) return QStringLiteral("%1 min %2 s").arg(t / 60).arg(t % 60, 2, 10, QLatin1Char('0'));
  return QStringLiteral("%1 h %2 min").arg(t / 3600).arg((t % 3600) / 60, 2, 10, QLatin1Char('0'));
}

QString formatPpl(double p) {
  if (!std::isfinite(p)) return QStringLiteral("—");
  const double a = std::abs(p);
  if (a >= 1e5) return QString::number(p, 'e', 3);
  if (a >= 1000) return QString::number(p, 'f', 0);
  if (a >= 100) return QString::number(p, 'f', 1);
  if (a >= 10) return QString::number(p, 'f', 2);
  return QString::number(p, 'f', 3);
}

QString formatDelta(double d, double base) {
  const QString sign = d >= 0 ? QStringLiteral("+") : QString();
  QString s = sign + formatPpl(d);
  if (base > 0 && std::isfinite(base)) s += QStringLiteral(" (%1%2%)").arg(sign).arg(100.0 * d / base, 0, 'f', 1);
  return s;
}

QString fileSlug(QString s) {
  s.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9]+")), QStringLiteral("-"));
  return s.toLower().remove(QRegularExpression(QStringLiteral("^-+|-+$")));
}

}  // namespace shedder::ui
