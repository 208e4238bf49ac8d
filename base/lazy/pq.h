/* libpq, opened on first use (see base/lazylib.h): include this instead
 * of the library's header; calls read as usual. */
#ifndef CAIRN_LAZY_PQ_H
#define CAIRN_LAZY_PQ_H

#include <libpq-fe.h>

#include "base/lazylib.h"

#define LAZY_PQ_FUNCTIONS(X)                                                                       \
	X(PQclear)                                                                                 \
	X(PQcmdStatus)                                                                             \
	X(PQcmdTuples)                                                                             \
	X(PQconnectdb)                                                                             \
	X(PQconnectdbParams)                                                                       \
	X(PQconninfoFree)                                                                          \
	X(PQconninfoParse)                                                                         \
	X(PQenterPipelineMode)                                                                     \
	X(PQerrorMessage)                                                                          \
	X(PQescapeIdentifier)                                                                      \
	X(PQexec)                                                                                  \
	X(PQexecParams)                                                                            \
	X(PQexitPipelineMode)                                                                      \
	X(PQfinish)                                                                                \
	X(PQfreemem)                                                                               \
	X(PQgetCopyData)                                                                           \
	X(PQgetResult)                                                                             \
	X(PQgetisnull)                                                                             \
	X(PQgetvalue)                                                                              \
	X(PQntuples)                                                                               \
	X(PQping)                                                                                  \
	X(PQpipelineSync)                                                                          \
	X(PQprepare)                                                                               \
	X(PQputCopyData)                                                                           \
	X(PQputCopyEnd)                                                                            \
	X(PQreset)                                                                                 \
	X(PQresultErrorField)                                                                      \
	X(PQresultErrorMessage)                                                                    \
	X(PQresultStatus)                                                                          \
	X(PQsendQuery)                                                                             \
	X(PQsendQueryParams)                                                                       \
	X(PQsendQueryPrepared)                                                                     \
	X(PQsetNoticeProcessor)                                                                    \
	X(PQsetSingleRowMode)                                                                      \
	X(PQsocket)                                                                                \
	X(PQstatus)

struct lazy_pq {
	LAZY_PQ_FUNCTIONS(LAZYLIB_MEMBER)
};

const struct lazy_pq *lazy_pq(void);

#ifndef LAZY_PQ_TABLE
#define PQclear (lazy_pq()->PQclear)
#define PQcmdStatus (lazy_pq()->PQcmdStatus)
#define PQcmdTuples (lazy_pq()->PQcmdTuples)
#define PQconnectdb (lazy_pq()->PQconnectdb)
#define PQconnectdbParams (lazy_pq()->PQconnectdbParams)
#define PQconninfoFree (lazy_pq()->PQconninfoFree)
#define PQconninfoParse (lazy_pq()->PQconninfoParse)
#define PQenterPipelineMode (lazy_pq()->PQenterPipelineMode)
#define PQerrorMessage (lazy_pq()->PQerrorMessage)
#define PQescapeIdentifier (lazy_pq()->PQescapeIdentifier)
#define PQexec (lazy_pq()->PQexec)
#define PQexecParams (lazy_pq()->PQexecParams)
#define PQexitPipelineMode (lazy_pq()->PQexitPipelineMode)
#define PQfinish (lazy_pq()->PQfinish)
#define PQfreemem (lazy_pq()->PQfreemem)
#define PQgetCopyData (lazy_pq()->PQgetCopyData)
#define PQgetResult (lazy_pq()->PQgetResult)
#define PQgetisnull (lazy_pq()->PQgetisnull)
#define PQgetvalue (lazy_pq()->PQgetvalue)
#define PQntuples (lazy_pq()->PQntuples)
#define PQping (lazy_pq()->PQping)
#define PQpipelineSync (lazy_pq()->PQpipelineSync)
#define PQprepare (lazy_pq()->PQprepare)
#define PQputCopyData (lazy_pq()->PQputCopyData)
#define PQputCopyEnd (lazy_pq()->PQputCopyEnd)
#define PQreset (lazy_pq()->PQreset)
#define PQresultErrorField (lazy_pq()->PQresultErrorField)
#define PQresultErrorMessage (lazy_pq()->PQresultErrorMessage)
#define PQresultStatus (lazy_pq()->PQresultStatus)
#define PQsendQuery (lazy_pq()->PQsendQuery)
#define PQsendQueryParams (lazy_pq()->PQsendQueryParams)
#define PQsendQueryPrepared (lazy_pq()->PQsendQueryPrepared)
#define PQsetNoticeProcessor (lazy_pq()->PQsetNoticeProcessor)
#define PQsetSingleRowMode (lazy_pq()->PQsetSingleRowMode)
#define PQsocket (lazy_pq()->PQsocket)
#define PQstatus (lazy_pq()->PQstatus)
#endif

#endif
