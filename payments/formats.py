"""Bank file formats (代发文件 out, 回盘文件 back). A bank's own format is a class with the same
two methods; the default is the pipe-separated text below, with an ``.xlsx`` twin.

    bank file (代发文件)
    H|<round reference>|<yyyymmdd>|<count>|<total, 2 decimals>
    D|<line reference>|<account name>|<card number>|<amount>|<ID number>|<purpose>
    return file (回盘文件)
    H|<round reference>|<yyyymmdd>|<count>|<total, 2 decimals>
    D|<line reference>|<account name>|<card number>|<amount>|<result code>|<result text>|<bank transaction id>

Pure: no database, no Django models. (Being written: see the module's tests.)"""
